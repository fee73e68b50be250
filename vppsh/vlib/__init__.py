"""The vector engine: buffer pool, node graph, dispatcher thread, process nodes, timers, trace."""
