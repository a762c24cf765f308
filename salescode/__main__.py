from salescode.cli import main

main()
