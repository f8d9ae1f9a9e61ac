"""Apache Airflow provider for HubSpot Conversations Custom Channels."""

__version__ = "0.1.0"
