"""Bucket-settings checks: collect a bucket's settings once (:mod:`.collectors`), judge the
snapshot with its cloud's rules (:mod:`.evaluate`, :mod:`.rules`), stage the findings for the
night's report (:mod:`.job`). See ``compliance/README.md``."""
