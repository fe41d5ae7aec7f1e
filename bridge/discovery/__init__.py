"""bridge.discovery"""
