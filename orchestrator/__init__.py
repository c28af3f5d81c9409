"""The deep-think engine: decomposition, parallel tool-using agents, synthesis. No LSP here."""
