from pipwrap.cli import main_entry

main_entry()
