"""Archive keys: the key ring, envelope encryption, the blind index, rotation.

The key ring and key file, data keys and messages under AES-GCM, the keyed index.
"""
