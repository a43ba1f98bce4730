"""The import stage: reasoning traces from public or local datasets into a stage folder under the data contract."""
