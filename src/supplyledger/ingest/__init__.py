"""Device ingest: reading batches signed by IoT devices, over MQTT and HTTP.

``device`` is the device's side (sign batches, publish or post them); ``admit`` the check
every entry point makes before handing bytes to the node; ``broker`` runs a local mosquitto;
``mqtt`` bridges a broker's device topics to the node; ``signed_receipts`` is how its
answers are signed by the node and checked by devices.
"""
