print("master")
