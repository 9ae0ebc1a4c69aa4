"""The web-chat channel: the chat widget a company embeds in its pages, and its public HTTP backend."""
