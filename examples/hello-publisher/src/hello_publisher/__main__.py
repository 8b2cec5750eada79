from hello_publisher import main

main()
