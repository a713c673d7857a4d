"""The programme calendar: working time, programme and holiday commands, stage moves."""
