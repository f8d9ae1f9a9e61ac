"""Airflow operators: thin glue between Airflow (templating, context, XCom, exceptions) and the HubSpot layers."""
