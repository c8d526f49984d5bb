"""Third parties in the response: engaging a vendor and holding it to its contract."""
