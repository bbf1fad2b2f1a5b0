"""The bench's scenarios; each ``run(bench, options)`` returns its rows and raw data."""
