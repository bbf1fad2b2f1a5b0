"""Code every Hosted Wasteland service shares: settings, logging, telemetry, auth,
errors, the gRPC server bootstrap and clients, and the DoltHub client."""
