"""bridge.alljoyn"""
