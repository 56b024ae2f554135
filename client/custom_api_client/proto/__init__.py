"""The gRPC contract's generated Python code (``sidecar_pb2``, ``sidecar_pb2_grpc``).

Generated from ``protos/custom_api_sidecar/v1/sidecar.proto`` by ``python protos/generate.py``;
never edit by hand. Public: the sidecar and any Python caller import the messages from here.
"""
