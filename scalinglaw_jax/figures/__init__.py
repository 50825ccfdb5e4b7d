"""The paper's figures and the bands drawn on them. Figures read results; they never fit."""
