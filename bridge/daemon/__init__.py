"""bridge.daemon"""
