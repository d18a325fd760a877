from model.eval.run import main

raise SystemExit(main())
