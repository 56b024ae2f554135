"""How MCP clients reach the server: ``stdio`` (one client, the process's stdin and stdout) and
``http`` (Streamable HTTP on a listener of the running sidecar). Both import the MCP SDK."""
