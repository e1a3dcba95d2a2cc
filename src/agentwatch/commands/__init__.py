"""Sub-commands of the agentwatch command line, one module each."""
