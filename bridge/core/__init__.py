"""bridge.core"""
