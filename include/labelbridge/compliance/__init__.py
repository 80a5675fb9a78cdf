"""Nightly compliance: S3 access-log audit and bucket-settings rules, one report."""
