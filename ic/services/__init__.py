"""Operations shared by the CLI and the GUI (both are thin front ends over these)."""
