"""Annotation tools: where a labeling project's tasks are labeled, and where its annotations come from.

``base`` holds what every tool shares (the remote project bound to a labeling project, and the
mapping between labeling-DB tasks and the tool's own ids); one package per tool holds the rest:
``label_studio`` (live, over its REST API), ``ground_truth`` (SageMaker Ground Truth, through the
manifest files it reads and writes in S3), ``labelbox`` (files in a bucket: import files out, export v2
NDJSON in).
"""
