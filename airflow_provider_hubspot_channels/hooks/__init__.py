"""Airflow hooks: Connection -> HubSpot client."""
