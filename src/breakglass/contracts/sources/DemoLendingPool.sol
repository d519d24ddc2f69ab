// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "@openzeppelin/contracts/access/AccessControl.sol";
import "@openzeppelin/contracts/security/Pausable.sol";
import "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

interface IDemoPair {
    function token0() external view returns (address);
    function getReserves() external view returns (uint112, uint112, uint32);
}

/// @title DemoLendingPool
/// @notice The `breakglass demo` lending pool: suppliers lend `asset`, borrowers post
///         `collateralToken` and borrow up to 75% of its value. Pausable by PAUSER_ROLE;
///         DEFAULT_ADMIN_ROLE belongs to the protocol's Safe.
/// @dev THE FLAW: collateral is valued at the Uniswap V2 pair's *spot* price, read from its
///      reserves in the same transaction. A flash-funded swap moves that price for one
///      transaction, long enough to borrow against inflated collateral. Never deploy it.
contract DemoLendingPool is AccessControl, Pausable {
    using SafeERC20 for IERC20;

    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    uint256 public constant LTV_PERCENT = 75;

    IERC20 public immutable asset;
    IERC20 public immutable collateralToken;
    IDemoPair public immutable oracle;

    mapping(address => uint256) public supplied;
    mapping(address => uint256) public collateral;
    mapping(address => uint256) public debt;
    uint256 public totalSupplied;
    uint256 public totalDebt;

    event Supplied(address indexed user, uint256 amount);
    event Withdrawn(address indexed user, uint256 amount);
    event CollateralDeposited(address indexed user, uint256 amount);
    event Borrowed(address indexed user, uint256 amount, uint256 price);
    event Repaid(address indexed user, uint256 amount);

    constructor(IERC20 asset_, IERC20 collateral_, IDemoPair oracle_, address admin, address pauser) {
        asset = asset_;
        collateralToken = collateral_;
        oracle = oracle_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(PAUSER_ROLE, pauser);
    }

    /// @notice Price of one collateral token in `asset`, 18 decimals: the pair's spot price.
    function price() public view returns (uint256) {
        (uint112 r0, uint112 r1,) = oracle.getReserves();
        (uint256 rAsset, uint256 rCollateral) =
            oracle.token0() == address(asset) ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
        return rAsset * 1e18 / rCollateral;
    }

    /// @notice What `user` could withdraw if every supplier left now: their pro-rata share
    ///         of the pool's cash (the position breakglass values in its loss analysis).
    function withdrawable(address user) external view returns (uint256) {
        if (totalSupplied == 0) return 0;
        return supplied[user] * asset.balanceOf(address(this)) / totalSupplied;
    }

    function supply(uint256 amount) external whenNotPaused {
        supplied[msg.sender] += amount;
        totalSupplied += amount;
        asset.safeTransferFrom(msg.sender, address(this), amount);
        emit Supplied(msg.sender, amount);
    }

    function withdraw(uint256 amount) external whenNotPaused {
        supplied[msg.sender] -= amount;
        totalSupplied -= amount;
        asset.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    function depositCollateral(uint256 amount) external whenNotPaused {
        collateral[msg.sender] += amount;
        collateralToken.safeTransferFrom(msg.sender, address(this), amount);
        emit CollateralDeposited(msg.sender, amount);
    }

    function borrow(uint256 amount) external whenNotPaused {
        uint256 spot = price();
        uint256 limit = collateral[msg.sender] * spot / 1e18 * LTV_PERCENT / 100;
        require(debt[msg.sender] + amount <= limit, "DemoLendingPool: undercollateralised");
        debt[msg.sender] += amount;
        totalDebt += amount;
        asset.safeTransfer(msg.sender, amount);
        emit Borrowed(msg.sender, amount, spot);
    }

    function repay(uint256 amount) external whenNotPaused {
        debt[msg.sender] -= amount;
        totalDebt -= amount;
        asset.safeTransferFrom(msg.sender, address(this), amount);
        emit Repaid(msg.sender, amount);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }
}
