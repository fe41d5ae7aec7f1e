"""bridge.mqtt"""
