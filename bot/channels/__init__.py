"""Channel adapters: each knows one provider and nothing of the campaign."""
