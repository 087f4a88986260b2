console.log("addon build script pending")
