"""Generated gRPC code for the Liftbridge API (`make proto`); do not edit."""
