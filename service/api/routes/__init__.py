"""The HTTP resources, one router each. A handler renamed after its operationId was published
passes the old id as `operation_id=`, so clients generated from /openapi.json keep their method
names."""
