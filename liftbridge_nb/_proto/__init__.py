"""Generated gRPC code for the Liftbridge API (make proto); import only from _convert and transports."""
