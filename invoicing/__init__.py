"""Invoicing: the invoice run, EHF (PEPPOL BIS Billing 3.0) documents, their validation and PDF rendering."""
