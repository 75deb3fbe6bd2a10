"""Foundation: settings (config/*.toml + RECGEN_*), expected errors, frozen value types and
every Redis key and payload format. Shared by every layer; imports nothing else of recgen."""
