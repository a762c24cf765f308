"""salescode: sales KPIs from CRM exports, organised as Activities → Objectives → Results."""

__version__ = "0.1.0"
