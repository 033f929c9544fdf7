"""The Admin API as an MCP server (``server.mcp.*``): tools generated from the admin app's routes
(:mod:`magec.admin_mcp.tools`), served over Streamable HTTP with the admin password as bearer
(:mod:`magec.admin_mcp.server`). See docs/admin-mcp.md."""
