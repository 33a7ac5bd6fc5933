"""The UE side: USIM model, bootstrap client, Ua client."""
