"""Prompt templates as YAML files (loaded by `qa.prompts`); edit them without touching code."""
