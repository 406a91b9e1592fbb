from frisson.cli import main

main()
