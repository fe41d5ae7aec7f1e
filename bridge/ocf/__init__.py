"""bridge.ocf"""
