"""Generated from protos/ by protos/gen_python.py; do not edit."""
