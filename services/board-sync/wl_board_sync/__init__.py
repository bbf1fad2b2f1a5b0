"""wl_board_sync."""
