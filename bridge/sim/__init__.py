"""bridge.sim"""
