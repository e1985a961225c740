"""Summaries of large transaction logs computed where the data live (DuckDB or Spark, through Ibis)."""
