"""Runs decisions against HubSpot through the client: the one place where the domain meets I/O."""
