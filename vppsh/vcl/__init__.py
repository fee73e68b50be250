"""The application side: the API socket the preload shim attaches to, its sockets in the
engine, vcl.conf, and the `vppsh exec` launcher."""
